"""Faust agents that turn the cart-event topic into files and running state."""
