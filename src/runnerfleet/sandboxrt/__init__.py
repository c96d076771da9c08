"""The sandbox's runtime: the stack's Lambda functions, their triggers and the runner hosts,
run as AWS runs them, beside the AWS emulator (moto) and the GitHub emulator.

- `functions`: what Terraform deployed (functions, URLs, rules, targets, queues), from state.
- `lambdas` + `bootstrap`: one long-lived worker per function, in the runtime's Python with
  only the zip and boto3 importable, under the function role's assumed credentials.
- `triggers`: the function URL front, EventBridge (EC2 state changes, schedules) and SQS.
- `hosts`: a simulated host per running instance, under the instance role's credentials.
- `supervisor`: the process that runs all of the above between CLI commands.
- `jobs`: queueing jobs in the GitHub emulator and explaining why a job waits.
"""
