{#- fivetran/linkedin's default date_from_month_string uses to_date(text, 'YYYY-MM-DD'), which DuckDB does not
    have; the package dispatches the macro, so this implementation serves the duckdb adapter (dbt_project.yml). -#}
{% macro duckdb__date_from_month_string(month_str) %}
    cast(
        split_part({{ month_str }}, '-', 1) || '-' || lpad(split_part({{ month_str }}, '-', 2), 2, '0') || '-01'
        as date
    )
{% endmacro %}
