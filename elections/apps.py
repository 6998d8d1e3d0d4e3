from django.apps import AppConfig


class ElectionsConfig(AppConfig):
    name = "elections"

    def ready(self):
        # The log stores each row's tree so a parent's log keeps a deleted child's rows;
        # it learns the tree from here (imports point elections -> activity_log).
        from activity_log.services import use_tree_paths

        from .selectors import parents_of

        use_tree_paths(parents_of)
