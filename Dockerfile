# One image for the worker, the API and the producer; docker-compose.yml picks the command.
FROM python:3.11-slim

WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CARTSIM_DATA_DIR=/data

COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY pyproject.toml README.md ./
COPY cartsim ./cartsim
COPY producer ./producer
COPY stream_processors ./stream_processors
COPY api ./api
COPY cli ./cli
COPY tail ./tail
COPY schemas ./schemas
RUN pip install --no-cache-dir --no-deps . && mkdir -p /data

EXPOSE 8000 6066
CMD ["cartsim", "api", "--host", "0.0.0.0"]
