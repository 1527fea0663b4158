"""IPython only: a short summary of what the profile bound, shown at the prompt.

The queue server loads this file too; the check keeps it a no-op there.
"""

from autoscope.profile import in_interactive_ipython, profile_summary

if in_interactive_ipython():
    print(profile_summary(globals()))
