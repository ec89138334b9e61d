"""Hand-written test doubles held to the signatures of the classes they stand in for.

A fake method taking `**kwargs` accepts a misspelt argument that the real client refuses
with TypeError: the test passes and production fails. A fake built with `shaped_like` (a
class) or `signature_of` (a function) binds every call against the real signature first
and calls the fake only when the real one would have accepted the arguments.
"""

from __future__ import annotations

import functools
import inspect
import types

_MISSING = object()


def assert_real_signature(real_callable, *args, **kwargs) -> None:
    """TypeError unless `real_callable` accepts these arguments (it is not called)."""
    try:
        inspect.signature(real_callable).bind(*args, **kwargs)
    except TypeError as exc:
        name = getattr(real_callable, "__qualname__", repr(real_callable))
        raise TypeError(f"{name}: {exc}") from None


def signature_of(real_callable):
    """Decorator of a fake function: it accepts only what `real_callable` accepts."""
    def decorate(fake):
        @functools.wraps(fake)
        def checked(*args, **kwargs):
            assert_real_signature(real_callable, *args, **kwargs)
            return fake(*args, **kwargs)
        return checked
    return decorate


def shaped_like(real_class):
    """Class decorator: each method of the fake (and `__init__`) accepts only what the method
    of the same name on `real_class` accepts; a public method or property the real class
    does not have is an error when the fake is defined, not a silent pass."""
    def decorate(fake):
        for name, member in list(vars(fake).items()):
            if not _is_method(member) or (name.startswith("_") and name != "__init__"):
                continue
            real = inspect.getattr_static(real_class, name, _MISSING)
            if real is _MISSING:
                raise AttributeError(f"{fake.__name__}.{name}: {real_class.__qualname__} has "
                                     f"no {name}, so the fake would invent it")
            if not isinstance(member, property):
                setattr(fake, name, _checked(member, real_class, name))
        return fake
    return decorate


def _is_method(member) -> bool:
    return isinstance(member, (types.FunctionType, classmethod, staticmethod, property))


def _checked(member, real_class, name):
    kind = type(member) if isinstance(member, (classmethod, staticmethod)) else None
    fake = member.__func__ if kind else member
    real = getattr(real_class, name)
    # An instance method's signature starts with `self`: bind a stand-in for it. A
    # classmethod read from the class is already bound; a staticmethod has no first argument.
    real_self = (None,) if isinstance(inspect.getattr_static(real_class, name),
                                      types.FunctionType) else ()
    fake_self = kind is not staticmethod

    @functools.wraps(fake)
    def checked(*args, **kwargs):
        given = args[1:] if fake_self else args
        assert_real_signature(real, *real_self, *given, **kwargs)
        return fake(*args, **kwargs)

    return kind(checked) if kind else checked
