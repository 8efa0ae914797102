"""Weight validation of a model folder (issue 4), free of Django.

Importing this package is cheap: torch, transformers, tokenizers and sentencepiece
are imported inside the functions that need them.

    from console.weightcheck import check_folder, LocalFolderReader
    report = check_folder(LocalFolderReader(path), template_dir)
"""

from .check import check_folder
from .keyfields import KEY_FIELDS
from .layouts import set_cache_dir as set_layout_cache_dir
from .layouts import store_catalog_layouts, warm_up
from .messages import FAILURES
from .reader import CountingReader, FolderReader, LocalFolderReader, ReaderError
from .report import CheckReport
from .templates import Template, TemplateError, load_template

__all__ = [
    "FAILURES",
    "KEY_FIELDS",
    "CheckReport",
    "CountingReader",
    "FolderReader",
    "LocalFolderReader",
    "ReaderError",
    "Template",
    "TemplateError",
    "check_folder",
    "load_template",
    "set_layout_cache_dir",
    "store_catalog_layouts",
    "warm_up",
]
