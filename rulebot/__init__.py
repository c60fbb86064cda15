"""rulebot: a declarative trading rules engine for the Lighter perpetual exchange."""

from rulebot.lang.load import Compiled, compile_file, compile_text

__version__ = "0.1.0"

__all__ = ["Compiled", "__version__", "compile_file", "compile_text"]
