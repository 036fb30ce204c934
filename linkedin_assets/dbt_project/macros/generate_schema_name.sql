{#- The package asks for schema linkedin_ads (reports) and linkedin_ads_source (staging); dbt's default would
    prefix both with the target schema. Here: the reports in the target schema, staging in <target>_staging. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is not none and custom_schema_name | trim == 'linkedin_ads_source' -%}
        {{ target.schema }}_staging
    {%- else -%}
        {{ target.schema }}
    {%- endif -%}
{%- endmacro %}
