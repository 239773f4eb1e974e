"""cvcourse: the reference implementations behind the computer-vision course notebooks."""

__version__ = "0.1.0"
