"""course_utils: the helper package every notebook of the fine-tuning course imports.

One module per concept:
    session     the one call at the top of a notebook (profile, seeds, checked parameters)
    profiles    t4 / mini / auto, device and dtype
    params      parameter rules and their error messages
    catalog     what each notebook takes and downloads
    results     record() the numbers a notebook teaches
    runner      execute notebooks with papermill, write executed copies and a summary
    mini        the offline mini world: task mixture, tokenizers, mini models
    data        one loader for the bundled data (mini) and the Hub datasets (t4)
    metrics     ROUGE from first principles
"""

from .params import Param, ParameterError
from .results import record, recorded
from .session import Session, setup

__version__ = "0.1.0"
__all__ = ["Param", "ParameterError", "Session", "record", "recorded", "setup", "__version__"]
