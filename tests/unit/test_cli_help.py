"""Every command and option of `kafkaban` says what it is for, and `schedule preview` says when an expression never
fires instead of printing nothing."""

from __future__ import annotations

import argparse

from engine.cli.main import build_parser, main


def undescribed(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            described = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not described.get(name):
                    missing.append(" ".join((*path, name)))
                missing += undescribed(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_command_and_option_has_help():
    assert undescribed(build_parser()) == []


def test_the_walk_finds_an_option_without_help():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers().add_parser("cmd", help="a command")
    sub.add_argument("--bare")
    assert undescribed(parser) == ["cmd --bare"]


def test_a_preview_of_a_date_no_calendar_has_says_it_never_fires(capsys):
    assert main(["schedule", "preview", "0 0 31 2 *"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "never fires" in captured.err
    assert main(["schedule", "preview", "0 0 * * *", "--count", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
