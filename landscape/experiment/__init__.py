"""The experiment layer: subjects (what is analysed), cached analyses, runs and experiments."""
