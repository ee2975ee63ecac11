"""The CDK app: ``npx cdk synth`` / ``npx cdk deploy --all`` run this file (see docs/deploy.md)."""

from aws_cdk import App

from infra.compliance import add_compliance_checks
from infra.platform import build_platform

app = App()
build_platform(app)
add_compliance_checks(app)
app.synth()
