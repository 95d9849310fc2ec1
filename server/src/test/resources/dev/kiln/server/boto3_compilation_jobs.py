"""Drives a Kiln endpoint through boto3 as a team's Neo scripts would, asserting what SageMaker's API promises.

Usage: python3 boto3_compilation_jobs.py ENDPOINT_URL MODEL_ARCHIVE OUTPUT_DIR
Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; BAD_SECRET is a wrong secret for the same key;
OTHER_KEY_ID / OTHER_SECRET belong to another account.
Prints one line per check; exits non-zero on the first failure.
"""
import datetime
import os
import sys
import time

import boto3
import botocore.exceptions

endpoint, archive, output = sys.argv[1:4]
client = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1")
role = "arn:aws:iam::123456789012:role/kiln"
shapes = '{"input0": [1, 3, 224, 224]}'


def check(condition, what):
    if not condition:
        print("FAILED:", what, flush=True)
        sys.exit(1)
    print("ok:", what, flush=True)


def create(name, data_input_config=shapes, max_runtime=600):
    return client.create_compilation_job(
        CompilationJobName=name, RoleArn=role,
        InputConfig={"S3Uri": archive, "DataInputConfig": data_input_config, "Framework": "ONNX"},
        OutputConfig={"S3OutputLocation": output, "TargetDevice": "ml_c5"},
        StoppingCondition={"MaxRuntimeInSeconds": max_runtime})


def wait_for(name, statuses, seconds=300):
    deadline = time.time() + seconds
    while True:
        job = client.describe_compilation_job(CompilationJobName=name)
        if job["CompilationJobStatus"] in statuses or time.time() > deadline:
            return job
        time.sleep(0.2)


before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
arn = create("boto3-squeezenet")["CompilationJobArn"]
check(arn.startswith("arn:aws:sagemaker:us-east-1:") and arn.endswith(":compilation-job/boto3-squeezenet"), "create returns the ARN " + arn)
job = wait_for("boto3-squeezenet", {"COMPLETED", "FAILED", "STOPPED"})
check(job["CompilationJobStatus"] == "COMPLETED", "the job completes: " + str(job.get("FailureReason")))
check(isinstance(job["CreationTime"], datetime.datetime) and job["CreationTime"] >= before, "CreationTime is a timestamp")
check(job["CompilationStartTime"] <= job["CompilationEndTime"], "start before end")
check(job["ModelArtifacts"]["S3ModelArtifacts"] == os.path.join(output, "squeezenet-ml_c5.tar.gz"), "artifact location")
check(len(job["ModelDigests"]["ArtifactDigest"]) == 128, "BLAKE2b-512 digest")

for name in ["boto3-list-a", "boto3-list-b", "boto3-other"]:
    create(name, max_runtime=600)
    client.stop_compilation_job(CompilationJobName=name)
    wait_for(name, {"STOPPED", "COMPLETED", "FAILED"})
after = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)

names = [j["CompilationJobName"] for j in client.list_compilation_jobs(NameContains="list", SortBy="Name", SortOrder="Ascending")["CompilationJobSummaries"]]
check(names == ["boto3-list-a", "boto3-list-b"], "NameContains with SortBy Name: " + str(names))
names = [j["CompilationJobName"] for j in client.list_compilation_jobs(SortBy="Name", SortOrder="Descending")["CompilationJobSummaries"]]
check(names == sorted(names, reverse=True) and len(names) == 4, "SortOrder Descending: " + str(names))
completed = client.list_compilation_jobs(StatusEquals="COMPLETED")["CompilationJobSummaries"]
check([j["CompilationJobName"] for j in completed] == ["boto3-squeezenet"], "StatusEquals COMPLETED")
check(completed[0]["CompilationTargetDevice"] == "ml_c5", "summaries carry the target")
check(len(client.list_compilation_jobs(CreationTimeAfter=after)["CompilationJobSummaries"]) == 0, "CreationTimeAfter excludes all")
check(len(client.list_compilation_jobs(CreationTimeAfter=before, CreationTimeBefore=after)["CompilationJobSummaries"]) == 4, "creation-time window")
newest_first = [j["CompilationJobName"] for j in client.list_compilation_jobs(SortBy="CreationTime")["CompilationJobSummaries"]]
check(newest_first[0] == "boto3-other" and newest_first[-1] == "boto3-squeezenet", "CreationTime sorts newest first by default: " + str(newest_first))

first = client.list_compilation_jobs(MaxResults=3, SortBy="Name", SortOrder="Ascending")
check(len(first["CompilationJobSummaries"]) == 3 and "NextToken" in first, "MaxResults 3 gives a page and a NextToken")
second = client.list_compilation_jobs(MaxResults=3, SortBy="Name", SortOrder="Ascending", NextToken=first["NextToken"])
check(len(second["CompilationJobSummaries"]) == 1 and "NextToken" not in second, "the last page has no NextToken")
paged = [j["CompilationJobName"] for page in client.get_paginator("list_compilation_jobs").paginate(
    SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 1}) for j in page["CompilationJobSummaries"]]
check(paged == sorted(paged) and len(paged) == 4, "the paginator walks every page: " + str(paged))

create("boto3-to-stop")
running = wait_for("boto3-to-stop", {"INPROGRESS", "COMPLETED", "FAILED"})
check(running["CompilationJobStatus"] == "INPROGRESS", "the job to stop is compiling")
client.stop_compilation_job(CompilationJobName="boto3-to-stop")
stopped = wait_for("boto3-to-stop", {"STOPPED", "COMPLETED", "FAILED"}, seconds=10)
check(stopped["CompilationJobStatus"] == "STOPPED", "stop ends STOPPED: " + stopped["CompilationJobStatus"])

client.delete_compilation_job(CompilationJobName="boto3-to-stop")
try:
    client.describe_compilation_job(CompilationJobName="boto3-to-stop")
    check(False, "a deleted job is gone")
except client.exceptions.ResourceNotFound as e:
    check("boto3-to-stop" in str(e), "a deleted job is ResourceNotFound, the client's own exception")

try:
    create("boto3-bad-shapes", data_input_config='{"input0": [1, "three"]}')
    check(False, "a bad DataInputConfig is refused")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "ValidationException" and "input0" in e.response["Error"]["Message"],
          "a bad DataInputConfig is a ValidationException: " + e.response["Error"]["Message"])

bad = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["BAD_SECRET"])
try:
    bad.list_compilation_jobs()
    check(False, "a wrong secret is refused")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "InvalidSignatureException" and e.response["ResponseMetadata"]["HTTPStatusCode"] == 403,
          "a wrong secret is InvalidSignatureException, 403")
unknown = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIAAAAAAAAAAAAAAAAA", aws_secret_access_key=os.environ["BAD_SECRET"])
try:
    unknown.list_compilation_jobs()
    check(False, "an unknown key is refused")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "UnrecognizedClientException", "an unknown key is UnrecognizedClientException")
other = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id=os.environ["OTHER_KEY_ID"], aws_secret_access_key=os.environ["OTHER_SECRET"])
check(other.list_compilation_jobs()["CompilationJobSummaries"] == [], "another account lists none of these jobs")
for call in (other.describe_compilation_job, other.stop_compilation_job, other.delete_compilation_job):
    try:
        call(CompilationJobName="boto3-squeezenet")
        check(False, "another account cannot reach the job")
    except other.exceptions.ResourceNotFound:
        pass
check(client.describe_compilation_job(CompilationJobName="boto3-squeezenet")["CompilationJobStatus"] == "COMPLETED",
      "another account can neither see, stop nor delete the job")
print("all boto3 checks passed")
