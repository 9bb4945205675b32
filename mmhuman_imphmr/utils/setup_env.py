"""Registration of every module of this package into its registries."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import all modules so that their ``@register_module`` decorators run.

    Args:
        init_default_scope (bool): Whether to make ``mmhuman_imphmr`` the
            current default scope of MMEngine's registries. Defaults to True.
    """
    import mmhuman_imphmr.body_models  # noqa: F401
    import mmhuman_imphmr.datasets  # noqa: F401
    import mmhuman_imphmr.engine  # noqa: F401
    import mmhuman_imphmr.evaluation  # noqa: F401
    import mmhuman_imphmr.models  # noqa: F401
    import mmhuman_imphmr.renderer  # noqa: F401
    import mmhuman_imphmr.visualization  # noqa: F401

    if init_default_scope:
        never_created = (
            DefaultScope.get_current_instance() is None
            or not DefaultScope.check_instance_created('mmhuman_imphmr'))
        if never_created:
            DefaultScope.get_instance(
                'mmhuman_imphmr', scope_name='mmhuman_imphmr')
            return
        current_scope = DefaultScope.get_current_instance()
        if current_scope.scope_name != 'mmhuman_imphmr':
            warnings.warn(
                'The current default scope '
                f'"{current_scope.scope_name}" is not '
                '"mmhuman_imphmr"; `register_all_modules` forces it.')
            new_name = f'mmhuman_imphmr-{datetime.datetime.now()}'
            DefaultScope.get_instance(new_name, scope_name='mmhuman_imphmr')
