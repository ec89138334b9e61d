"""tests/doubles.py: a fake built from a real class accepts only what the real class does."""

from __future__ import annotations

import pytest

from tests.doubles import assert_real_signature, shaped_like, signature_of


class Real:
    def __init__(self, name, *, timeout=30):
        pass

    def push(self, repository, tag=None):
        pass

    @classmethod
    def list(cls, filter=None):
        pass

    @staticmethod
    def parse(text):
        pass

    @property
    def state(self):
        return "RUNNING"


@shaped_like(Real)
class Fake:
    def __init__(self, *args, **kwargs):
        self.calls = [("init", args, kwargs)]

    def push(self, *args, **kwargs):
        self.calls.append(("push", args, kwargs))

    @classmethod
    def list(cls, **kwargs):
        return kwargs

    @staticmethod
    def parse(*args):
        return args

    @property
    def state(self):
        return "SUCCEEDED"

    def _helper(self, anything):  # private helpers of the fake are its own business
        return anything


def test_calls_the_real_class_accepts_reach_the_fake():
    fake = Fake("taxi", timeout=5)
    fake.push("repo", tag="1")
    assert fake.calls == [("init", ("taxi",), {"timeout": 5}), ("push", ("repo",), {"tag": "1"})]
    assert Fake.list(filter="x") == {"filter": "x"} and Fake.parse("t") == ("t",)
    assert fake.state == "SUCCEEDED" and fake._helper(1) == 1


@pytest.mark.parametrize("call", [
    lambda: Fake("taxi", timout=5),
    lambda: Fake("taxi").push("repo", tags="1"),
    lambda: Fake("taxi").push(),
    lambda: Fake.list(filters="x"),
    lambda: Fake.parse("a", "b"),
])
def test_calls_the_real_class_refuses_fail_in_the_fake(call):
    with pytest.raises(TypeError, match=r"^Real\."):
        call()


def test_a_fake_cannot_invent_a_method_the_real_class_lacks():
    with pytest.raises(AttributeError, match="Real has no pull"):
        @shaped_like(Real)
        class Inventive:
            def pull(self, repository):
                pass


def test_a_fake_function_is_held_to_the_real_one():
    def real(path, *, mode="r"):
        pass

    fake = signature_of(real)(lambda *args, **kwargs: "read")
    assert fake("a", mode="rb") == "read"
    with pytest.raises(TypeError, match="unexpected keyword argument 'mdoe'"):
        fake("a", mdoe="rb")
    with pytest.raises(TypeError):
        assert_real_signature(real, "a", "rb")  # mode is keyword-only
