"""The embedded demo corpora (``<task>/{public,private,test}.jsonl``) and the generators that write
them (``python -m rewardds.data.demo.make_demo``)."""
