"""A producer names itself: its name in a metric label must not break out of the label or the line."""

from engine.api.routes.operations import label


def test_quotes_backslashes_and_newlines_in_a_label_are_escaped():
    hostile = 'svc"} 1\nkafkaban_executions{status="SUCCEEDED"} 999\\'
    line = f'kafkaban_misplaced_records_total{{producer="{label(hostile)}"}} 3'
    assert "\n" not in line
    assert line == ('kafkaban_misplaced_records_total{producer="svc\\"} 1\\nkafkaban_executions{status=\\"SUCCEEDED'
                    '\\"} 999\\\\"} 3')
