"""The asset graph: LinkedIn API -> warehouse tables -> JSON snapshot."""
