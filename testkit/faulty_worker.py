"""`python -m testkit.faulty_worker MODULE:CLASS.METHOD SECONDS`: a real worker with one of its
background loops made to fail after SECONDS, to prove the worker's supervision (the process must
exit non-zero with the reason logged, never idle on). The loop runs for real until then."""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import sys


class InjectedFailure(RuntimeError):
    """The failure this tool injects."""


def _failing(method, seconds: float):
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def generator(*args, **kwargs):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds
            inner = method(*args, **kwargs)
            while True:  # the real generator, until the deadline (whether or not it yields meanwhile)
                try:
                    item = await asyncio.wait_for(anext(inner), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    raise InjectedFailure(f"injected failure in {method.__qualname__}") from None
                except StopAsyncIteration:
                    return
                yield item

        return generator

    @functools.wraps(method)
    async def coroutine(*args, **kwargs):
        task = asyncio.ensure_future(method(*args, **kwargs))
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if task in done:
            return task.result()
        task.cancel()
        raise InjectedFailure(f"injected failure in {method.__qualname__}")

    return coroutine


def main(argv: list[str] | None = None) -> int:
    target, seconds = (argv if argv is not None else sys.argv[1:])[:2]
    module_name, _, attribute = target.partition(":")
    owner_name, _, method_name = attribute.partition(".")
    owner = getattr(importlib.import_module(module_name), owner_name)
    setattr(owner, method_name, _failing(getattr(owner, method_name), float(seconds)))
    from stream_app.__main__ import main as worker_main

    return worker_main(["-l", "info"])


if __name__ == "__main__":
    sys.exit(main())
