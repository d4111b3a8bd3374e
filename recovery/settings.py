"""What the backup and recovery use cases need from configuration and the policies, built once
per policy change (``core.policy``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recovery import mailcap, otp, throttle


@dataclass(frozen=True)
class BackupSettings:
    secret_key: str
    mode: str
    delivery: str
    prompt_after: int
    restore_removes_old_devices: bool
    otp: otp.OtpPolicy
    flow_ttl: int
    reauth_max_age: int
    per_browser: throttle.ThrottlePolicy  # one browser's failed recovery steps: may lock
    per_ip: throttle.ThrottlePolicy  # one IP's failed recovery steps: delays only
    per_id: throttle.ThrottlePolicy  # one ID's wrong email codes (after a right backup code)
    mail_cap: mailcap.MailCapPolicy = mailcap.MailCapPolicy()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BackupSettings:
        window = config["RECOVERY_WINDOW"]
        return cls(
            secret_key=config["SECRET_KEY"],
            mode=config["BACKUP_MODE"],
            delivery=config["BACKUP_CODE_DELIVERY"],
            prompt_after=config["BACKUP_PROMPT_AFTER_SIGNINS"],
            restore_removes_old_devices=bool(config["RESTORE_REMOVES_OLD_DEVICES"]),
            otp=otp.OtpPolicy(digits=config["OTP_DIGITS"], ttl=config["OTP_TTL"]),
            flow_ttl=config["RECOVERY_FLOW_TTL"],
            reauth_max_age=config["REAUTH_MAX_AGE"],
            per_browser=throttle.ThrottlePolicy(window, lock_after=config["RECOVERY_MAX_FAILURES"]),
            per_ip=throttle.ThrottlePolicy(
                window, free_failures=config["RECOVERY_MAX_FAILURES_PER_IP"]
            ),
            per_id=throttle.ThrottlePolicy(window, lock_after=config["RECOVERY_MAX_FAILURES"]),
            mail_cap=mailcap.MailCapPolicy(
                cooldown=config["MAIL_CODE_COOLDOWN"], per_hour=config["MAIL_CODES_PER_HOUR"]
            ),
        )
