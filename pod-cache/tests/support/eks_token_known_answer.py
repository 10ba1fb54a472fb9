# Known answer for pod-cache/src/extract/eks.rs: the presigned STS URL that botocore (the signer
# behind `aws eks get-token`) produces for fixed credentials, cluster `demo` and 2026-01-01T00:00:00Z.
import datetime
from unittest import mock
import botocore.auth, botocore.credentials
from botocore.awsrequest import AWSRequest
creds = botocore.credentials.Credentials("AKIDEXAMPLE","wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY","SESSIONTOKEN/EXAMPLE+=")
req = AWSRequest(method="GET", url="https://sts.us-east-1.amazonaws.com/", params={"Action":"GetCallerIdentity","Version":"2011-06-15"}, headers={"x-k8s-aws-id":"demo"})
fixed = datetime.datetime(2026,1,1,0,0,0)
class FakeDT(datetime.datetime):
    @classmethod
    def utcnow(cls): return fixed
    @classmethod
    def now(cls, tz=None): return fixed.replace(tzinfo=tz) if tz else fixed
with mock.patch.object(botocore.auth.datetime, "datetime", FakeDT):
    signer = botocore.auth.SigV4QueryAuth(creds, "sts", "us-east-1", expires=60)
    signer.add_auth(req)
p = req.prepare()
print(p.url)
