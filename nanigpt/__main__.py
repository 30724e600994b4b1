"""The `nanigpt` console script and `python -m nanigpt`: the command line of nanigpt/cli.py,
started with the cycle collector off."""

import gc


def main() -> None:
    # Start-up allocates only objects that live until exit (modules, classes, click's commands),
    # and the collector would walk them again and again for nothing: ~8 ms of a 100 ms `show`.
    # It stays off for the quick commands (show, diff, runs: bounded work, the process ends);
    # one that runs long turns it back on before its work (`cli` in nanigpt/cli.py).
    gc.disable()
    from nanigpt.cli import main as run

    run()


if __name__ == "__main__":
    main()
