"""Read an Odoo test log and print the closing line "N passed, N failed".

Exits non-zero when Odoo failed, when a test failed or errored, when a test of ours was skipped
(Odoo skips browser tests silently without Chromium or websocket-client), or when no test ran.
"""

import re
import sys

RESULT = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database")
# OdooTestResult.addSkip logs "<logger>: skipped <test description> : <reason>".
SKIPPED = re.compile(r": skipped .+ : ")


def summarize(log_path, odoo_rc):
    with open(log_path, encoding="utf-8", errors="replace") as log:
        lines = log.read().splitlines()
    failed = errors = total = 0
    for line in lines:
        match = RESULT.search(line)
        if match:
            failed, errors, total = (int(value) for value in match.groups())
    skipped = [line for line in lines if "receivable_dunning" in line and SKIPPED.search(line)]
    broken = failed + errors
    problems = []
    if skipped:
        problems.append(f"{len(skipped)} test(s) of ours skipped:\n  " + "\n  ".join(skipped))
    if not total:
        problems.append("no test ran")
    if odoo_rc:
        problems.append(f"odoo exited with code {odoo_rc}")
    for problem in problems:
        print(f"[receivable_dunning] FAILED: {problem}", file=sys.stderr)
    # Skipped tests count as failed: they did not prove anything.
    print(f"{total - broken - len(skipped)} passed, {broken + len(skipped)} failed")
    return 1 if problems or broken else 0


if __name__ == "__main__":
    sys.exit(summarize(sys.argv[1], int(sys.argv[2])))
