"""pgbench output, /proc files: what the harness reads from the machine."""

import pytest

from bench.database import parse_pgbench_log, parse_pgbench_tps
from bench.machine import cpu_model, mem_total_gib
from bench.server import parent_pid_of_stat, vm_hwm_mib

PGBENCH_OUTPUT = """pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/insert.sql
number of transactions actually processed: 8822
number of failed transactions: 0 (0.000%)
latency average = 0.680 ms
initial connection time = 5.465 ms
tps = 2942.076902 (without initial connection time)
"""


def test_pgbench_tps():
    assert parse_pgbench_tps(PGBENCH_OUTPUT) == pytest.approx(2942.076902)
    with pytest.raises(ValueError, match="tps"):
        parse_pgbench_tps("pgbench: error: connection refused")


def test_pgbench_log_latencies_in_ms():
    lines = ["0 1 1721 0 1795252401 997777", "1 1 382 0 1795252401 998171", ""]
    assert parse_pgbench_log(lines) == [1.721, 0.382]


def test_parent_pid_survives_spaces_and_parentheses_in_the_command_name():
    assert parent_pid_of_stat("4242 (gunicorn: worker (x)) S 4200 4200 4200 0 -1") == 4200


def test_vm_hwm_in_mb():
    status = "Name:\tgunicorn\nVmPeak:\t  300000 kB\nVmHWM:\t  131072 kB\nVmRSS:\t  100000 kB\n"
    assert vm_hwm_mib(status) == 128.0
    with pytest.raises(ValueError, match="VmHWM"):
        vm_hwm_mib("Name:\tkthread\n")


def test_cpu_model_and_memory():
    assert cpu_model("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n") == (
        "Intel(R) Xeon(R) Processor"
    )
    assert mem_total_gib("MemTotal:       24684544 kB\nMemFree: 1 kB\n") == pytest.approx(
        23.54, 0.01
    )
