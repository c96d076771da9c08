"""The sandbox's strict AWS layer: where moto accepts what AWS refuses, the sandbox refuses too.

It is sandbox-only: the sandbox starts moto as `python -m runnerfleet.strictaws` (moto server
with this layer as WSGI middleware in the same process, and moto's IAM authorization on), and
no production code path imports it. Requests no rule watches go to moto untouched.

Rules (runnerfleet.strictaws.rules; each has a test in tests/integration/strictaws/):

  # | call                                   | refused when                   | AWS error code
  --+----------------------------------------+--------------------------------+-----------------
  1 | ssm PutParameter                       | value > 4,096 chars on the     | ValidationException
    |                                        | Standard tier (given, kept on  |
    |                                        | overwrite, or the default)     |
  2 | ssm PutParameter                       | value > 8,192 chars, Advanced  | ValidationException
    |                                        | or Intelligent-Tiering         |
  3 | autoscaling                            | ShouldDecrementDesiredCapacity | ValidationError
    | TerminateInstanceInAutoScalingGroup    | and desired <= min             |
  4 | autoscaling SetDesiredCapacity         | desired > max or < min         | ValidationError
  5 | autoscaling CompleteLifecycleAction,   | no active action with that     | ValidationError
    | RecordLifecycleActionHeartbeat         | token / instance (group, hook) |
  6 | lambda CreateFunction,                 | TracingConfig Active and the   | InvalidParameter-
    | UpdateFunctionConfiguration            | role lacks xray:PutTraceSegments| ValueException
    |                                        | or xray:PutTelemetryRecords    |
  7 | lambda PutFunctionConcurrency          | limit - other reservations - N | InvalidParameter-
    | (Terraform's reserved_concurrent_      | < min(100, limit); limit from  | ValueException
    | executions)                            | RUNNERFLEET_SANDBOX_LAMBDA_    |
    |                                        | CONCURRENCY, default 10 (new   |
    |                                        | accounts get 10)               |
  8 | lambda CreateFunction,                 | the role does not exist or its | InvalidParameter-
    | UpdateFunctionConfiguration (Role)     | trust policy does not name     | ValueException
    |                                        | lambda.amazonaws.com           |

Messages, as AWS writes them (where they were checked):
  1 "Standard tier parameters support a maximum parameter value of 4096 characters. To create a
    larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more
    information, see <SSM tiers doc URL>" (AWS's answer quoted in aws/aws-sdk-net#3157)
  2 "Advanced tier parameters support a maximum parameter value of 8192 characters. ..." (the
    limit is the SSM user guide's; the wording is modelled on 1, not verified)
  3 "Currently, desiredSize equals minSize (N). Terminating instance without replacement will
    violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false
    or lower group's min size." (buildkite/elastic-ci-stack-for-aws#1261,
    hashicorp/nomad-autoscaler#1290)
  4 "New SetDesiredCapacity value D is above max value M for the AutoScalingGroup."
    (kubernetes/autoscaler#943); "... is below min value M ..." by symmetry
  5 "No active Lifecycle Action found with token T" (spacelift-io/terraform-aws-spacelift-
    workerpool-on-ec2#197) / "... with instance ID I" (convox/rack#2432)
  6 "The provided execution role does not have permissions to call PutTraceSegments on XRAY"
    (serverless/serverless#6931, coinbase/fenrir#1)
  7 "Specified ReservedConcurrentExecutions for function decreases account's
    UnreservedConcurrentExecution below its minimum value of [10]." (milliHQ/terraform-aws-
    next-js#251, awslabs/fhir-works-on-aws-deployment#691)
  8 "The role defined for the function cannot be assumed by Lambda." (boto/boto3#2976,
    nficano/python-lambda#28)

State modelled here (runnerfleet.strictaws.motostate.LifecycleActions; tests in
tests/integration/strictaws/test_strict_lifecycle.py and tests/unit/strictaws/):

  what                                   | as AWS does it
  ---------------------------------------+--------------------------------------------------
  an active action of a group's          | the instance's LifecycleState is Pending:Wait
  EC2_INSTANCE_LAUNCHING hook            | (DescribeAutoScalingInstances/-Groups), and it
                                         | counts towards desired capacity
  CompleteLifecycleAction CONTINUE       | Pending:Wait -> InService
  CompleteLifecycleAction ABANDON        | the instance is terminated; the group launches a
  (launch hook)                          | replacement (desired capacity kept)
  the hook's HeartbeatTimeout passes     | its DefaultResult applies (checked on every Auto
                                         | Scaling request); RecordLifecycleActionHeartbeat
                                         | restarts the timeout
  not modelled                           | the wait before the sandbox registers the action
                                         | (InService until then); warm pools (Warmed:*)

moto implements no lifecycle actions, so CompleteLifecycleAction with an active action is
answered here too (an action becomes active through `register_lifecycle_action`, which the
sandbox calls when it delivers a lifecycle event). A refused or locally answered call is first
authorized as moto authorizes (signature, then the caller's policies), as AWS does.

IAM: every request needs a known access key and a policy allowing the action (moto's
enforcement, which covers every service whose moto responses dispatch through
`BaseResponse.call_action`, and S3) on the resource AWS evaluates for it, with the resource's
tags for aws:ResourceTag conditions and iam:PassRole for a role handed to a service
(runnerfleet.strictaws.resources: the table of ARNs by action; motofixes: the evaluation).
An unsigned sts:AssumeRoleWithWebIdentity is answered as STS answers it, with the token
checked against the account's OIDC provider and the role's trust policy
(runnerfleet.strictaws.webidentity, with its table of refusals).

The sandbox's dummy key `testing`/`testing` belongs to the
admin user `runnerfleet-sandbox-admin` (Allow * on *), so the CLI, bootstrap and Terraform keep
working; functions and hosts use `assume(role_arn, endpoint=..., service=...)`.

Interface (see /work/coord/strictaws.md):
- `python -m runnerfleet.strictaws -H 127.0.0.1 -p PORT` (the sandbox's AWS emulator process);
- `start_strict_server(host, port) -> (url, stop)` (runnerfleet.strictaws.server; in-thread);
- `assume`, `register_lifecycle_action`, `lifecycle_actions` (runnerfleet.strictaws.client).
"""

from runnerfleet.strictaws.client import (
    EC2,
    LAMBDA,
    AssumedCredentials,
    StrictAwsError,
    assume,
    lifecycle_actions,
    register_lifecycle_action,
)

__all__ = [
    "EC2",
    "LAMBDA",
    "AssumedCredentials",
    "StrictAwsError",
    "assume",
    "lifecycle_actions",
    "register_lifecycle_action",
]
