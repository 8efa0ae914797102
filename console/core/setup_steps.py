"""Set-up steps other apps add (catalog data, default pools...), run by `setup_console`."""

_steps = []


def setup_step(fn):
    _steps.append(fn)
    return fn


def setup_steps():
    return list(_steps)
