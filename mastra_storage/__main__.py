"""`python -m mastra_storage`: the `mastra-storage` command line."""

from .cli import run

if __name__ == "__main__":
    run()
