"""Inputs and outputs: the sources a log is read from and the files results are written to."""
