"""Training configurations: every module here is imported by
:func:`gr_semcod.training.registry.load_config_modules`, and registers its configs."""
