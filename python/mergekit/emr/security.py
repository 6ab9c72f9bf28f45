"""An EMR security configuration with the encryption a company account asks for (seed 000's list: data at
rest and in transit encrypted)."""

from __future__ import annotations

import json
from typing import Any, Optional

from mergekit.emr._aws import Api, EmrError


def security_configuration(
    kms_key: Optional[str] = None,
    s3_mode: Optional[str] = None,
    local_disk: bool = True,
    in_transit_certificates: Optional[str] = None,
    in_transit: bool = True,
) -> dict[str, Any]:
    """The SecurityConfiguration document.

    - At rest, S3 (EMRFS): SSE-KMS with ``kms_key`` when given, else SSE-S3.
    - At rest, local disks (instance store and EBS, including the root volume via EBS encryption): needs a KMS
      key, because EMR encrypts them with a data key from KMS.
    - In transit: TLS between nodes needs a PEM certificate bundle (a zip in S3), so it is required unless
      in-transit encryption is explicitly turned off.
    """
    mode = s3_mode or ("SSE-KMS" if kms_key else "SSE-S3")
    if mode not in ("SSE-S3", "SSE-KMS"):
        raise EmrError("--s3-encryption must be SSE-S3 or SSE-KMS")
    s3_cfg: dict[str, Any] = {"EncryptionMode": mode}
    if mode == "SSE-KMS":
        if not kms_key:
            raise EmrError("SSE-KMS needs --kms-key (a KMS key ARN or alias ARN)")
        s3_cfg["AwsKmsKey"] = kms_key
    at_rest: dict[str, Any] = {"S3EncryptionConfiguration": s3_cfg}
    if local_disk:
        if not kms_key:
            raise EmrError("local-disk encryption needs --kms-key (or pass --no-local-disk-encryption)")
        at_rest["LocalDiskEncryptionConfiguration"] = {
            "EncryptionKeyProviderType": "AwsKms",
            "AwsKmsKey": kms_key,
            "EnableEbsEncryption": True,
        }
    enc: dict[str, Any] = {
        "EnableAtRestEncryption": True,
        "EnableInTransitEncryption": bool(in_transit),
        "AtRestEncryptionConfiguration": at_rest,
    }
    if in_transit:
        if not in_transit_certificates:
            raise EmrError(
                "in-transit encryption needs --certificates s3://.../certs.zip (PEM files: privateKey.pem, "
                "certificateChain.pem, trustedCertificates.pem), or pass --no-in-transit-encryption"
            )
        if not in_transit_certificates.startswith("s3://"):
            raise EmrError("--certificates must be an s3:// URI of a zip of PEM files")
        enc["InTransitEncryptionConfiguration"] = {
            "TLSCertificateConfiguration": {
                "CertificateProviderType": "PEM",
                "S3Object": in_transit_certificates,
            }
        }
    return {"EncryptionConfiguration": enc}


def create(api: Api, name: str, config: dict[str, Any]) -> dict[str, Any]:
    return api.call(
        "emr",
        "CreateSecurityConfiguration",
        {"Name": name, "SecurityConfiguration": json.dumps(config, separators=(",", ":"))},
        dry_reply={"Name": name},
    )
