"""Code shared by every model handler; copied into each SageMaker artifact as ``code/common/``."""
