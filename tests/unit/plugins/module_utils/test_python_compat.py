# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Our module code runs on the Pythons the declared ansible-core range runs modules with, not only on
the controller's 3.11: a module such as rollout or cert_expiry can run on a node whose Python is 3.10
(Ubuntu 22.04). datetime.UTC arrived in Python 3.11; without it, as on 3.10, the time helpers must
still work (a stand-in for a 3.10 interpreter, which this machine does not have)."""

import datetime

from ansible_collections.orchestrator.platform.plugins.module_utils import _rollouts


def test_utc_now_without_datetime_utc(monkeypatch):
    if hasattr(datetime, "UTC"):
        monkeypatch.delattr(datetime, "UTC")
    now = _rollouts.utc_now()
    assert now.utcoffset() == datetime.timedelta(0) and now.microsecond == 0
    assert abs((now - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 5  # noqa: UP017
