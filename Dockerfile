# The smo-orchestrator image: the worker (`smo worker`) and the codec/report web (`smo web`).
FROM python:3.11-slim
# Bytecode is allowed and compiled at build time (the app user cannot write /app): without it
# every worker start, and with the sandbox every case run, compiles the modules again.
ENV PYTHONUNBUFFERED=1 SMO_HOME=/data SMO_LOG_FORMAT=json
WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY activities ./activities
COPY calendars ./calendars
COPY models ./models
COPY reports ./reports
COPY runtime ./runtime
COPY security ./security
COPY service ./service
COPY starter ./starter
COPY web ./web
COPY workflows ./workflows
COPY programs ./programs
COPY data ./data
RUN pip install --no-cache-dir -e . && python -m compileall -q -j 0 /app /usr/local/lib/python3.11 \
    && useradd --uid 10001 --create-home smo \
    && mkdir -p /data && chown smo /data
USER smo
VOLUME ["/data"]
CMD ["smo", "worker"]
