"""seqkit: recurrent sequence models trained by backpropagation through time.

The core knows no image, audio or video: plugins add tasks through the ``seqkit.tasks``
entry-point group. Importing seqkit imports no plugin and no gradio.
"""
__version__ = "0.1.0"

from seqkit.config import TrainConfig, bounded
from seqkit.errors import SeqkitError
from seqkit.rundir import Run, load
from seqkit.task import Task, TaskData, get_task, installed_tasks
from seqkit.train import fit

__all__ = ["Run", "SeqkitError", "Task", "TaskData", "TrainConfig", "bounded", "fit",
           "get_task", "installed_tasks", "load", "__version__"]
