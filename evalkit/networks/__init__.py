"""Hand-written torch networks: faithful ports of official architectures that no library ships.

Not a plugin package (no registry walks it): its modules import torch at module level, so
the core imports them only inside functions (a generator's ``load``). Each subpackage names
its source (repository, file, configuration) and loads the official checkpoint's key names.
"""
