"""Vitrine's AWS infrastructure (AWS CDK, Python).

``infra.platform.build_platform`` wires the stacks; ``app.py`` at the repository root is the CDK app that
``cdk synth`` / ``cdk deploy`` run. Nothing here runs at Lambda run time.
"""
