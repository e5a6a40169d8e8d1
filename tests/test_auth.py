"""Pure auth rules: the password policy and the login lockout window."""

from __future__ import annotations

from mediaserver.auth import LoginLimiter, generate_password, password_problems
from mediaserver.config import LockoutConfig, PasswordPolicy
from tests.conftest import FakeClock

POLICY = PasswordPolicy()


def test_password_policy() -> None:
    assert password_problems("Dist-Office-2026", "admin", POLICY) == []
    assert any("at least 10" in p for p in password_problems("Ab1!", "x", POLICY))
    assert any("mix at least 3" in p for p in password_problems("onlylowercaseletters", "x", POLICY))
    assert any("user name" in p for p in password_problems("Nguyenvana-2026", "nguyenvana", POLICY))
    assert any("default" in p for p in password_problems("12345678", "x", PasswordPolicy(min_length=8,
                                                                                         min_classes=1)))
    for _ in range(20):
        assert password_problems(generate_password(), "admin", PasswordPolicy(min_classes=4)) == []


def test_five_failures_in_thirty_seconds_lock_for_five_minutes() -> None:
    clock = FakeClock(now=1000.0)
    limiter = LoginLimiter(LockoutConfig(), clock=clock)
    for _ in range(4):
        assert limiter.failure("user:a") is False
        clock.now += 5
    assert limiter.failure("user:a") is True  # the 5th within 20 s
    assert 299 < limiter.locked_for("user:a") <= 300
    assert limiter.locked_for("user:b") == 0  # another account is not locked
    clock.now += 301
    assert limiter.locked_for("user:a") == 0


def test_an_address_is_slowed_after_its_burst_never_locked() -> None:
    clock = FakeClock(now=0.0)
    throttle = LoginLimiter(LockoutConfig(address_burst=20, address_refill_s=3.0), clock=clock).addresses
    for _ in range(20):
        assert throttle.wait_for("10.0.0.7") == 0
        throttle.failure("10.0.0.7")
    assert 2.9 < throttle.wait_for("10.0.0.7") <= 3.0  # the 21st waits one refill, not minutes
    assert throttle.wait_for("10.0.0.8") == 0  # other addresses are untouched
    clock.now += 3.0
    assert throttle.wait_for("10.0.0.7") == 0
    throttle.failure("10.0.0.7")
    assert throttle.wait_for("10.0.0.7") > 0  # a sprayer gets one guess per refill
    clock.now += 60.0
    assert throttle.wait_for("10.0.0.7") == 0


def test_failures_spread_over_the_window_do_not_lock() -> None:
    clock = FakeClock(now=0.0)
    limiter = LoginLimiter(LockoutConfig(), clock=clock)
    for _ in range(20):
        assert limiter.failure("user:a") is False
        clock.now += 8  # 4 failures per 30 s at most
    assert limiter.locked_for("user:a") == 0


def test_success_resets_the_count() -> None:
    clock = FakeClock(now=0.0)
    limiter = LoginLimiter(LockoutConfig(), clock=clock)
    for _ in range(4):
        limiter.failure("user:a")
    limiter.success("user:a")
    assert limiter.failure("user:a") is False
