"""The machinery that runs the course: the top layer, above the lessons and the core.

session          setup(): the one call after a notebook's parameters cell
params           parameter rules and their error messages
catalog          what each notebook takes, downloads and needs
parameters_cell  the notebooks' parameters cells, kept in step with the catalogue
profiles         t4 / mini / auto: device and number format
standins         local stand-ins for the Hub (the t4 stand-in test)
results          record() the numbers a notebook teaches
figures          save_figure() where the runner collects figures
runner           execute notebooks with papermill; executed copies and a summary
cli              python -m course_utils run | build-mini | build-data | badges | params | site
badges           Colab badges and the Colab set-up cell
env_check        the checks notebook 00 runs
launch           the scripts' plumbing: arguments, checks, checkpoints, saving
lesson_cells     the notebooks' "# @save" cells and their modules, kept equal
site             the course's website from executed runs (Sphinx, myst-nb)
colab_install    the Colab install (standard library only, run by path)
"""
