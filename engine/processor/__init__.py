"""The engine processor: a faust app that folds the executions log and sends dispatch and kill commands."""
