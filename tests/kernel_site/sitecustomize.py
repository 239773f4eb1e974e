# Loaded by every Python process whose PYTHONPATH holds this folder (conftest.py sets it for the
# notebook kernels that nbval and the grader tests start): blocks network access when asked to.
import os

if os.environ.get("CVCOURSE_OFFLINE") == "1":
    import cvcourse_netguard

    cvcourse_netguard.install()
