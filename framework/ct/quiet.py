"""Keep library chatter (TF deprecations, absl, Beam, google-api-core notices) off the terminal
for CT and lineage commands: their output is the evidence, and it should be readable."""

from __future__ import annotations


def quiet_libraries() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="apache_beam")
    for name in ("absl", "tensorflow", "apache_beam", "tensorflow_data_validation"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
