"""Simulated TechStore shoppers: journeys of cart events and the places they are sent."""
