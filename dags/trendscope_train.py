"""
### trendscope_train

Trains a model on labelled data, registers it, and promotes it only when it does better than
the promoted one. Trigger it by hand with Params, or let it run when the labelled-data asset
(`trendscope_labelled_data`) is updated, e.g. by a labelling tool after a batch of corrections;
an asset-triggered run uses the Params' defaults.

Params: **kind** (`classifier` or `detector`), **data** (an ImageFolder tree for a classifier, a
YOLO dataset for a detector; local or `s3://`), **name** (the registry name), **epochs**.

1. **train**: `trendscope train-classifier` (or `train-detector`) `--data D --name N --epochs E`
   registers a new version (name, version, sha256, data fingerprint, parameters, holdout
   metrics) in `registry.root`. With `executor: kubernetes` it is a GPU pod
   (`KubernetesPodOperator`, pool `gpu`) running the same command; locally it runs in-process.
2. **promote**: `trendscope models promote N --latest --data D` evaluates the new version and
   the promoted one on the same holdout (the classifier's seeded 8:2 split of D; the detector's
   val split) and promotes the new one only when its top-1 (mAP50) is higher. The comparison is
   logged and returned as the task's XCom. A bare model name in the config (`NAME`) means the
   promoted version; `NAME@V` pins one and is not moved by promotion.
"""

from __future__ import annotations

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import Asset, Param, dag, task

from trendscope.orchestration.dag_settings import TAGS, dag_config, default_args, start_datetime
from trendscope.orchestration.training import TRAIN_TIMEOUT

CONFIG = dag_config()
LABELLED_DATA = Asset("trendscope_labelled_data")


@dag(
    dag_id="trendscope_train",
    schedule=[LABELLED_DATA],
    start_date=start_datetime(CONFIG),
    catchup=False,
    max_active_runs=1,  # promote compares with "the latest version": one training at a time
    default_args=default_args(CONFIG),
    tags=[*TAGS, "training"],
    doc_md=__doc__,
    params={
        "kind": Param("classifier", enum=["classifier", "detector"], description="model kind"),
        "data": Param("data/labelled", type="string", minLength=1, description="labelled data"),
        "name": Param(
            "labelled",
            type="string",
            pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$",
            description="registry name of the model",
        ),
        "epochs": Param(3, type="integer", minimum=0, maximum=1000, description="epochs"),
    },
)
def trendscope_train() -> None:
    @task
    def train_args(params=None) -> list[str]:
        from trendscope.orchestration.training import train_args

        return train_args(params["kind"], params["data"], params["name"], params["epochs"])

    args = train_args()
    if CONFIG.executor == "kubernetes":
        from trendscope.orchestration.training import train_pod_kwargs

        train = KubernetesPodOperator(
            task_id="train",
            arguments=args,
            execution_timeout=TRAIN_TIMEOUT,
            **train_pod_kwargs(CONFIG),
        )
    else:

        @task(task_id="train", execution_timeout=TRAIN_TIMEOUT)
        def train_here(args: list[str]) -> None:
            from trendscope.orchestration.tasks import run_cli

            run_cli(args)

        train = train_here(args)

    @task
    def promote(params=None) -> dict:
        from trendscope.orchestration.training import promote_if_better

        return promote_if_better(params["kind"], params["data"], params["name"])

    train >> promote()


trendscope_train()
