"""The script `workbench serve` runs with Streamlit: the dashboard's router (workbench/app/main.py)."""

from workbench.app.main import main

main()
