# GPU worker for the analyze pods: CUDA PyTorch, Ultralytics, ONNX Runtime GPU, and this package.
# Build from the repository root:
#   docker build -f docker/worker-gpu.Dockerfile -t ghcr.io/trendscope/trendscope-worker-gpu:0.1.0 .
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH HOME=/tmp
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.12 python3.12-venv libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/* \
 && python3.12 -m venv /opt/venv \
 && useradd --uid 1000 --create-home worker

WORKDIR /opt/trendscope
COPY requirements.txt pyproject.toml README.md ./
# The pinned CUDA torch build from requirements.txt; onnxruntime-gpu replaces the CPU runtime.
RUN pip install -r requirements.txt \
 && pip uninstall -y onnxruntime \
 && pip install "onnxruntime-gpu==1.31.1"
COPY include ./include
RUN pip install --no-deps . \
 && trendscope fetch-models --models-dir /opt/trendscope/models
ENV TRENDSCOPE_MODELS_DIR=/opt/trendscope/models TRENDSCOPE_EXECUTOR=local

USER 1000
ENTRYPOINT []
CMD ["trendscope", "--help"]
