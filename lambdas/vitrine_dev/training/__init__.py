"""Training and evaluation from the command line: ``vitrine train``, ``vitrine evaluate``, ``vitrine quality``.

Not shipped to Lambda. The training entry points themselves are ``model_code/<model>/train.py`` (each also a
SageMaker training job's entry point) and the metrics ``model_code/<model>/evaluate.py``; this package writes
their data from the synthetic generators (:mod:`.synthetic`), runs them locally or as SageMaker jobs
(:mod:`.sagemaker_job`), and runs the whole train-then-measure loop of ``make quality`` (:mod:`.quality`) and
``make demo-models`` (:mod:`.demo_models`).
"""
