"""How a panel or a chat box shows itself: the widget where a frontend renders widgets, one line elsewhere."""

from __future__ import annotations

from typing import Any


class ShownAsWidget:
    """A mixin: ``self.widget`` is the root ipywidget; ``repr`` is the one line a terminal shows."""

    widget: Any

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        from ..display import in_kernel

        if not in_kernel():
            return {"text/plain": repr(self)}
        bundle: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)
        return bundle


__all__ = ["ShownAsWidget"]
