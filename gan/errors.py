"""Errors a user can cause. The command line turns these into one line on stderr and exit code 2;
the UI shows their message. Anything else is a bug and keeps its traceback."""


class GanInputError(ValueError):
    """Bad input from the user: a name, a number, a file or a folder we cannot use."""


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN/inf; the run stops and keeps its last good checkpoint."""


class FieldError(GanInputError):
    """A bad value for one named setting. Each front end names a setting its own way (the command line says
    --batch-size, the Train tab says "Batch size", its label), so the error keeps the parts apart: `field` (the
    TrainConfig field), `rule` ("must be a whole number from 1 to 65,536") and the value given. str() is the
    command line's wording; `worded(label)` is a page's."""

    def __init__(self, field: str, rule: str, value):
        self.field, self.rule, self.value = field, rule, value
        super().__init__(f"--{field.replace('_', '-')} {rule}, got {value!r}")

    def worded(self, label: str) -> str:
        """The message as a form shows it: the field by its label, and what was typed (an empty field, or text a
        number field could not read, reaches the server as nothing)."""
        head = f"{label[:1].upper()}{label[1:]} {self.rule}"
        if isinstance(self.value, bool):       # a checkbox or a choice: the rule says it all
            return head
        typed = "the field is empty or not a number" if self.value is None or self.value == "" \
            else f"you typed {_shown(self.value)}"
        return f"{head}; {typed}"


def _shown(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)[:60]
