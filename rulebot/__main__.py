"""`python -m rulebot`: the same command line as the `rulebot` script."""

from rulebot.cli import app

if __name__ == "__main__":
    app()
