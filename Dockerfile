# Airflow image for Trendscope: scheduler, API server, DAG processor, triggerer and local tasks.
# Build: docker build -t trendscope-airflow:0.1.0 .
FROM python:3.11-slim-bookworm
# chromium + chromium-driver: the scraper source runs in the ingest task (headless, Debian builds)

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 tini chromium chromium-driver \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 50000 --gid 0 airflow

WORKDIR /opt/airflow
COPY requirements.txt pyproject.toml README.md ./
# torch is pinned in requirements.txt; on a build machine without the local wheel cache the
# CPU wheel index keeps the image small: --extra-index-url https://download.pytorch.org/whl/cpu
RUN pip install -r requirements.txt "apache-airflow-providers-postgres==7.1.1" "psycopg2-binary==2.9.13"
COPY include ./include
COPY dags ./dags
COPY plugins ./plugins
RUN pip install --no-deps -e . && python -m trendscope fetch-models --models-dir /opt/airflow/models \
 && chown -R 50000:0 /opt/airflow
ENV TRENDSCOPE_MODELS_DIR=/opt/airflow/models

USER 50000
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["version"]
