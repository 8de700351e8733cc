"""The run explorer's pages (streamlit_app.py is the entry point): one module a page (overview, confusion, threshold,
compare, try_it), and what they share, one module a job: options, signin, run, formatting, charts,
pictures, empty."""


